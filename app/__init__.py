"""The sigprop dashboard: a Panel + HoloViews + Bokeh explorer of signal propagation.

``compute`` turns the dashboard's settings into numbers (no UI imports), ``plots`` turns them into
HoloViews elements, ``export`` into PNG, SVG and CSV files, ``teaching`` holds the built-in
explanations, ``dashboard`` lays out the page and ``server`` serves it (``sigprop serve``).
"""
