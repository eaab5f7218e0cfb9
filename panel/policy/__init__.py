"""Pure policy core: who answers for what, and when. No Flask, no database, no network."""
