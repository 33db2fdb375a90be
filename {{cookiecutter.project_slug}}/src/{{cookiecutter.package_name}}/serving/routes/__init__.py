"""The service's endpoints, one ``APIRouter`` per concern, included by ``app.create_app``.

``predictions``: /predict and /predict/batch; ``operations``: /health, /ready and /metrics;
``model``: /model; ``admin``: /admin/reload (only when enabled). Endpoints are plain functions that
take what they need from ``deps.py`` and their bodies through ``json_body.py``.
"""
