"""The Celery app of the background jobs, for `celery -A worker worker` and `celery -A worker beat`.

`make worker` and `make beat` run them. The app is built by the factory,
with the configuration the API has (the environment, `.env`), so a worker
sends the same emails the API would (jobs.py says which).
"""

from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
