"""Entry point for ``panel serve app/main.py`` (``sigprop serve`` serves the same page)."""


from app.dashboard import create_app
from app.server import configure

configure()
create_app().servable(title="sigprop")
