"""The ceiling: a bare Flask app whose one route returns a small JSON object.

Served by gunicorn with the API's own settings, it is the most this stack
(Flask, gunicorn, this machine) can serve; the benchmark reports each endpoint
as a ratio to it.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"message": "hello"}
