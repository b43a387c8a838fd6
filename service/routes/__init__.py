"""The service's routers, one module per resource; each module defines ``router``.

``app.py`` mounts the modules of ``PUBLIC`` as they are and every module of ``PROTECTED`` with
``Depends(current_user)``, so a route added to a protected module cannot skip authentication.
A new resource (e.g. the elimination engineer's ``GET /coverage``) is a new module here with its
own ``router``, and its name added to ``PROTECTED``.
"""

PUBLIC = ["public"]
PROTECTED = ["me", "hits", "subjects", "proximity", "admin", "coverage"]
