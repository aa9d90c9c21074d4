# Sourced by the test scripts and tests/lib/pgtmp: free_port prints a TCP
# port on 127.0.0.1 that is free at this moment (the kernel picks it), for
# a server the script starts next. Uses $py when the script set it.
free_port() {
    "${py:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
