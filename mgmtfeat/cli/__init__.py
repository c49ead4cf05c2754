"""The commands: one module per command of ``mgmtfeat``, named as the user types it.

``mgmtfeat make-clips`` runs :mod:`mgmtfeat.cli.make_clips`, ``mgmtfeat saliency`` runs
:mod:`mgmtfeat.cli.saliency`, and so on; each has ``main(argv)``, a parser built from the options of
:mod:`mgmtfeat.cli.options` (each option defined once), and an options dataclass where options depend on
each other. The package sits above every step of :data:`mgmtfeat.STEPS`: it imports them, and no step
imports it. What the commands share: :mod:`~mgmtfeat.cli.run` (parser, runner, errors),
:mod:`~mgmtfeat.cli.config` (``settings.yaml``, ``--config``, ``--set``), :mod:`~mgmtfeat.cli.plan`
(``--dry-run``), :mod:`~mgmtfeat.cli.dataset` (the options of a dataset folder).
"""
