"""``python -m mobile_app``: serve the app in web mode (see mobile_app.main)."""

from mobile_app.main import serve

serve()
