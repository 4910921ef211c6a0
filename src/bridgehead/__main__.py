from bridgehead.cli import main

main()
