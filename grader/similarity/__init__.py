"""Similarity report: which notebooks share their graded code with each other or with earlier solutions.

``grader similarity DIR --assignment A --out OUTDIR [--against FOLDER ...] [--threshold X]``

The data path, one module a step:

* :mod:`.extract`: a notebook (or ``.py`` file) becomes its graded code, one unit per top-level name,
  read with the grader's own loader (:func:`grader.intake.load.load_notebook`) and so never executed;
* :mod:`.normalise`: each unit is rewritten so that the usual disguises vanish (comments, docstrings,
  formatting, type hints, prints, dead code); units unreachable from graded names are dropped;
* :mod:`.compare`: winnowed fingerprints of the normalised code (``copydetect``, the optional extra
  ``similarity``), with the skeleton notebook's code removed as boilerplate; scores per pair and per
  graded name;
* :mod:`.report`: ``similarity.csv`` and ``similarity.html``;
* :mod:`.command`: the command line (``grader similarity``) and the entry used by ``grader batch --similarity``.

A flag is a reason for a person to look at two notebooks side by side, never a verdict.
"""

#: Score (share of one notebook's graded code found in the other) from which a pair is flagged.
THRESHOLD = 0.6
#: The pip extra that holds the fingerprinting library.
EXTRA = "similarity"
#: One line for a TA whose grader lacks that library.
INSTALL_HINT = (
    "grader similarity needs the optional 'similarity' extra (copydetect): "
    "pip install -e '.[similarity]' (or pip install copydetect)"
)


def available() -> bool:
    """Whether the fingerprinting library is installed (checked without importing it)."""
    from importlib.util import find_spec

    return find_spec("copydetect") is not None
