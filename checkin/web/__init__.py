"""The web edge: the app factory, REST routes (`api`), pages, the kiosk and live sockets, the
FastAPI dependencies (`deps`) and the one mapping from errors to HTTP (`errors`). Routes call
the floors below and never run face work themselves.
"""
