"""pytest (nbval) over labs/: run the instructor solution notebooks only.

labs/student/ holds the generated student versions, whose exercise cells raise NotImplementedError by design;
tests/test_labs_student.py checks that they are up to date and that every stub raises.
"""
collect_ignore = ["student"]
