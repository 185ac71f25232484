# embed.cmake - turn a file into a C array (the web monitor page is
# compiled into mgmtd, which runs chrooted in an empty directory).
#   cmake -DIN=monitor.html -DOUT=www_embed.c -DNAME=www_monitor_html -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from ${IN} by embed.cmake */\n#include <stddef.h>\n"
  "const char ${NAME}[] = {\n${body}0x00 };\n"
  "const size_t ${NAME}_len = ${len};\n")
