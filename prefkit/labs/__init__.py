"""Labs: exercise checkers (``prefkit.labs.check``) and the student-version generator (``student``)."""
