"""The process boundary: worker processes that own models, and the messages they speak.

No Qt here (the GUI wraps the client in gui/bridge.py), so all of it runs headless.
"""
