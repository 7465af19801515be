"""Settings for the benchmark's server: the production settings, plus two trivial views
(bench_urls.py) served by the same process, middleware and gunicorn configuration."""

from callportal.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
