"""The canvas: a QGraphicsView with an image layer, a cached shape layer, live items for the
selection, and tools that turn mouse and key events into core commands."""
