"""One screen per module, each a function of its state (``build(state, t, run)``)."""
