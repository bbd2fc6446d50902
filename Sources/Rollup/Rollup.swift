// The rollup pipeline lands here.
