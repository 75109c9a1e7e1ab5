module github.com/ppgo/ppgo

go 1.26
