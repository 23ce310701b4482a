from numgrad.commands.cli import main

raise SystemExit(main())
