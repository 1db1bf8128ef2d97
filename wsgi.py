"""WSGI entry point for production servers: ``gunicorn -w 4 -b 127.0.0.1:8000 wsgi:app``.

Settings come from the environment (``DATABASE_URL``, ``PASSERELLE_*``), read once here.
"""

from app import create_app

app = create_app()
