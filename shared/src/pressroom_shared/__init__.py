"""Pressroom's common library: settings, the wire contract, storage and the plug-in protocols."""
