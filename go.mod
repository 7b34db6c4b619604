module github.com/mtguard/mtguard

go 1.26.8
