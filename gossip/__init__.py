"""Gossip: identity and signatures, the signed wire format, update codecs, replay guard, transports."""
