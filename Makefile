# The two commands of the README. Both install what they need (scripts/setup.sh).
.PHONY: demo test build clean

demo:
	@bash scripts/demo.sh

test:
	@bash scripts/test.sh

build:
	@bash scripts/build.sh all

clean:
	rm -rf build build.configure.log
