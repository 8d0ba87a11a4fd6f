"""What the grader hands out: the Gradescope autograder zip, the student notebooks (otter assign), the
student kit and the grader's wheel."""
