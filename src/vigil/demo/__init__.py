"""`vigil demo`: a credit-scoring model's month, replayed through the SDK into a real service.

Modules, by noun: `data` (the applicants, the score and the outcomes; the batch files and
report), `story` (the timeline: the change on the 7th, labels two days late), `folder` (the
demo's folder and its service's config), `process` (the `vigil serve` child process),
`receiver` (the webhook receiver for notices and retrain requests), `replay` (the hours sent
through `vigil.Client`, judged in story order, alerts noted in story time). `vigil.cli.demo`
runs them and prints.
"""
