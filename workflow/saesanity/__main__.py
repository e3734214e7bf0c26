from saesanity.cli import main

main()
