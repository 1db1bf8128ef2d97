"""gunicorn settings for ``make run`` (read by ``gunicorn -c gunicorn.conf.py wsgi:app``).

Workers sized to the machine (2 × cores + 1, or PASSERELLE_WEB_WORKERS), the worker timeout
above the database statement timeout (core/config.py checks it), gunicorn's own error pages
in French, and a ``Server`` header without a version.
"""

import multiprocessing

import gunicorn.http.wsgi
from gunicorn import util

from core.config import load_config
from core.serving import french_gunicorn_error

_config = load_config()

bind = _config["PASSERELLE_WEB_BIND"]
workers = _config["PASSERELLE_WEB_WORKERS"] or multiprocessing.cpu_count() * 2 + 1
timeout = _config["PASSERELLE_WEB_TIMEOUT_S"]
graceful_timeout = timeout
keepalive = 5
# Bounded request line and headers (gunicorn answers 414 / 431, in French below).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
proc_name = "passerelle"

util.write_error = french_gunicorn_error
# The Server header names no software version.
gunicorn.http.wsgi.SERVER = "Passerelle"
