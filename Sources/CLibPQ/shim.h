// libpq, as installed by Debian's libpq-dev (pkg-config libpq adds its include folder).
#include <libpq-fe.h>
