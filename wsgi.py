"""WSGI entry point for production servers: ``gunicorn -c gunicorn.conf.py wsgi:app`` (what
``make run`` does: workers sized to the machine, French error pages; see gunicorn.conf.py).

Settings come from the environment (``DATABASE_URL``, ``PASSERELLE_*``), read once here.
"""

from app import create_app

app = create_app()
