from resid_atlas.cli import main

raise SystemExit(main())
