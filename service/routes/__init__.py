"""The service's routers, one module per resource; each module defines ``router``.

``service/app.py`` includes them by name: ``public`` as it is, every other one with
``deps.AUTHENTICATED``, so a route added to a protected module cannot skip authentication. A new
resource is a new module here with its own ``router``, added to the protected list in ``app.py``.
"""
