module cloister.dev/guest

go 1.19
