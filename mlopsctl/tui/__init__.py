"""The terminal dashboard (k9s for models). Imported only by ``mlopsctl ui``; the core never imports it."""
