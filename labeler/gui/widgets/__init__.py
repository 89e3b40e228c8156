"""Dock contents and dialogs; each widget talks to the Session, never to the store directly."""
