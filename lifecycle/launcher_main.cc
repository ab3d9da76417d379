// `launcher`: see lifecycle/mains.h.
#include "lifecycle/mains.h"

int main(int argc, char** argv) { return hatch::lifecycle::LauncherMain(argc, argv); }
