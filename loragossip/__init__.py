"""The `loragossip` command: one module per subcommand, each registering its own parser.

It sits above every room (peer, gossip, robust, topology, sim) so that it can import them all
without an import running back up: `peer` never imports `sim`."""
