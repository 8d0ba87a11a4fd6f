"""Course scale: a folder or Gradescope export of notebooks graded into a gradebook, by a local pool of
processes or by Dask workers."""
