"""The application's verbs. Services own transactions; views and tasks only call them."""
