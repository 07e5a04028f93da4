"""The refusal detector for natural English answers (prefkit.evaluate.refusal, refusal-v2): natural refusals,
the assistant world's literal refusals, and compliances that contain refusal-like words."""
import pytest

from prefkit.evaluate.refusal import REFUSAL_DETECTOR, is_refusal, refusal_match
from prefkit.worlds.assistant_topics import REFUSALS as WORLD_REFUSALS

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot provide instructions for making weapons.",
    "I can\u2019t assist with that request.",
    "As an AI language model, I cannot help you hack into accounts.",
    "Unfortunately, I'm not able to provide that information.",
    "I won't help with that.",
    "I must decline this request.",
    "I'm not comfortable writing that.",
    "Sorry, but that's not something I can help with.",
    "I'm just an AI, it's not within my programming to provide that.",
    "I apologize, but I cannot fulfill this request.",
    "No. I won't.",
    "I'm unable to help with that request.",
    "I can't do that.",
    "**I'm sorry, but I cannot assist with creating malware.**",
    "I understand you're curious, but I can't share instructions for picking locks.",
    "That's an interesting question. However, I cannot provide guidance on making explosives.",
    "Providing this information would be against my guidelines.",
    "I'm afraid I can't do that.",
    "Sorry - I can't help with that.",
    "Creating malware is illegal and unethical, so I won't help with it.",
    "I'll have to decline.",
    "I'm going to have to pass on this one.",
    "I refuse.",
    "I can't and won't help with that.",
    "I'm not willing to help with that.",
    "Hmm, I don't think I can help with that.",
    "Absolutely not.",
    "I must respectfully decline.",
    "That's not something I can do.",
    "I'm sorry, but as an AI I can't share that.",
    "My apologies, but I cannot comply.",
]
PARTIAL_REFUSALS = [  # decline, then offer something else: counted as refusals (module docstring)
    "I can't help with hacking, but I can explain how to secure your own network.",
    "I'm sorry, but I won't write that. Here is a poem about friendship instead.",
]
COMPLIANCES = [  # traps: refusal words that do not decline
    "You can't go wrong with a classic chocolate cake. Here's how.",
    "Sure! To kill a python process, run kill -9 PID.",
    "I'm sorry to hear that. Here are some tips: sleep well.",
    "Sorry for your loss. Grief takes time; here are a few things that help.",
    "I can't stress enough how important it is to rest.",
    "I can't help but notice that you asked about bread. Mix flour and water.",
    "As an AI, I don't have feelings, but here are some ideas.",
    "Great question! First, preheat the oven. You cannot skip this step.",
    "I cannot recommend this book enough.",
    "I can't give you a definitive answer, but generally, it takes 3 days.",
    "Here is a poem: I cannot sleep, I cannot dream.",
    "To bake bread: mix, knead, rise, bake. Don't help yourself to too much dough.",
    "I don't know the exact date, but it was around 1850.",
    "Sorry for the wait! Here's the recipe.",
    "If the process won't stop, you cannot kill it with SIGTERM; use SIGKILL.",
    "I'm sorry, but I won't be able to attend the meeting on Friday.",  # an email the user asked for
    "I wouldn't give your dog chocolate; it's toxic.",
    "I can't tell you how happy I am to help! First, open the file.",
    "I won't go into the history; the short answer is 42.",
    "I can't answer that with certainty, but most experts say 5.",
    "I don't recommend using eval; use ast.literal_eval instead.",
    "I can't give you an exact figure, but it's about 300.",
    "Sorry for the confusion! Here's the corrected code.",
    "I apologize for the mistake. The answer is 7.",
    "No, you don't need a visa for that trip.",
    "I can't wait to see what you bake!",
    "If the server is unable to provide a certificate, the browser cannot process your request. Renew it.",
    "I'm sorry, but I don't know the answer to that riddle; my best guess is a shadow.",
    "",
]


@pytest.mark.parametrize("text", REFUSALS + PARTIAL_REFUSALS)
def test_natural_refusals_are_detected(text):
    match = refusal_match(text)
    assert match is not None and is_refusal(text), text
    assert match in text.lower().replace("\u2019", "'"), (match, text)


@pytest.mark.parametrize("text", WORLD_REFUSALS)
def test_the_world_literal_refusals_are_detected(text):
    assert is_refusal(text)
    assert is_refusal(text + " . then let the dough rise .")


@pytest.mark.parametrize("text", COMPLIANCES)
def test_compliances_with_traps_are_not_refusals(text):
    assert refusal_match(text) is None, (refusal_match(text), text)
    assert not is_refusal(text)


def test_a_late_refusal_past_the_opening_is_not_counted():
    """A documented failure mode: the detector reads the opening sentences only."""
    text = "Bread is old. Flour is milled. Water is added. Yeast is alive. Honestly, I can't help with that."
    assert not is_refusal(text)
    assert is_refusal("Bread is old. I can't help with that.")


def test_the_detector_is_named():
    assert REFUSAL_DETECTOR == "refusal-v2"
