from lrstudy.study.cli import main

main()
