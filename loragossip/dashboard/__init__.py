"""`loragossip dashboard`: a live web page of a testnet or a simulation run, served on loopback.

The page (`static/`) is one HTML file and one script of its own, no CDN: it polls `/api/state`
and draws whatever charts, tables and graph the view puts there. The views (`testnet_view`,
`run_view`) turn a directory into that one JSON shape, so one page serves both.
"""
