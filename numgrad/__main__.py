from numgrad.cli import main

raise SystemExit(main())
