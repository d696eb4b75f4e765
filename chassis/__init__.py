"""Building blocks shared by every service of the shop.

One concept per module: ``config`` (YAML with ``${VAR:default}``), ``errors`` (the typed errors
that cross RPC), ``schemas`` (validation at the boundary), ``cache`` (a Redis dependency that
fails open), ``health`` (the ``ping`` every service answers), ``migrate`` (Alembic per service).
"""
