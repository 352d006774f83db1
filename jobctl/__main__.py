from jobctl.cli.entry import main

main()
