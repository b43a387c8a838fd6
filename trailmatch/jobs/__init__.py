"""The processing team's jobs and the parts they share.

The jobs: ``nightly`` (every force's batch matched, kept and reported) and ``rematch`` (the
hits late uploads change). The parts, library modules any job or verb may call:
``sources`` (where fixes come from; which stretches of time some crimes need), ``loading``
(those fixes read and prepared once; hits, coverage and evidence from them), ``outputs`` (one
batch's files through the output registry, ``trailmatch.report.registry``) and ``summary``
(the nightly run's counts and summary). A job never imports another job.
"""
