"""Pure measurement core: paths and numbers in, plain data out. No Flask, no database."""
