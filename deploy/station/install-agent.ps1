<#
.SYNOPSIS
  Install the Espace station agent on a Windows PC or tablet.

.DESCRIPTION
  1. Creates a virtual environment under -InstallDir (from -Python, or the
     "py" launcher, or python.exe on PATH) and installs the espace wheel.
  2. Copies the sample configuration to -DataDir if none is there yet, and sets
     the folders' ACLs by SID: the install and data folders writable by SYSTEM
     and Administrators only (Users may read and run), the state folder (station
     token, outbox, logs) SYSTEM and Administrators only.
  3. Registers the Windows service "EspaceAgent" (LocalSystem, automatic start)
     that runs "python.exe -m agent.cli service --config ...". The agent answers
     the Service Control Manager itself (pywin32's service framework). The
     interpreter is the venv's base python.exe with the venv's site-packages in
     the service's PYTHONPATH (not the venv's python.exe, a launcher that runs
     the interpreter as a child process). After a crash, or a stop with an
     error, the SCM restarts it: 5 s, 5 s, then 60 s; the count resets daily.
     -Nssm C:\Path\nssm.exe registers it under NSSM instead (a fallback only).
  4. Starts "espace-agent session-ui" at the visitor's logon: a scheduled
     task for -VisitorUser (default), or the HKLM Run key for every user
     (-StartWith RunKey). It reaches the service over the named pipe
     \\.\pipe\espace-agent, which admits only SYSTEM and -VisitorUser.
  5. Enables the Microsoft-Windows-PrintService/Operational event log, where
     events 805 (copies) and 307 (pages, printer, job id) record each job.
  6. Locks the visitor's desktop: writes the policies listed in
     lockdown\windows-policies.json (no Task Manager, Lock, Change password,
     Registry Editor, Run, Win-key shortcuts, Control Panel, Shut down,
     Command Prompt, PowerShell...) into -VisitorUser's own registry hive, so
     administrators' accounts keep theirs. The visitor must have logged on once
     (its NTUSER.DAT exists). -NoLockdown skips this step.
     -ShellLauncher C:\Path\program.exe (Enterprise and Education only) also
     replaces explorer.exe with that program for -VisitorUser (Shell Launcher).

  Run from an elevated PowerShell:
    powershell -ExecutionPolicy Bypass -File install-agent.ps1 -Wheel .\espace-0.1.0-py3-none-any.whl
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $Wheel,
    [string] $Python = "",
    [string] $InstallDir = "$env:ProgramFiles\Espace",
    [string] $DataDir = "$env:ProgramData\Espace",
    [string] $VisitorUser = "visitor",
    [ValidateSet("Task", "RunKey")] [string] $StartWith = "Task",
    [string] $Nssm = "",
    [string] $ServiceName = "EspaceAgent",
    [switch] $NoLockdown,
    [string] $ShellLauncher = ""
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw "Run this script from an elevated PowerShell (Run as administrator)."
}
if (-not (Test-Path $Wheel)) { throw "Wheel not found: $Wheel" }

# --- 1. Python and the virtual environment ---------------------------------
function Find-Python {
    if ($Python) { return @($Python) }
    if (Get-Command py.exe -ErrorAction SilentlyContinue) { return @("py.exe", "-3") }
    $p = Get-Command python.exe -ErrorAction SilentlyContinue
    if ($p -and $p.Source -notlike "*WindowsApps*") { return @($p.Source) }  # not the Store stub
    throw "No Python 3.11+ found: install it for all users, or pass -Python C:\Path\python.exe"
}
$py = Find-Python
$venv = Join-Path $InstallDir "venv"
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
if (-not (Test-Path (Join-Path $venv "Scripts\python.exe"))) {
    Write-Host "Creating $venv"
    & $py[0] @($py | Select-Object -Skip 1) -m venv $venv
    if ($LASTEXITCODE -ne 0) { throw "python -m venv failed" }
}
$venvPython = Join-Path $venv "Scripts\python.exe"
$venvPythonw = Join-Path $venv "Scripts\pythonw.exe"
& $venvPython -m pip install --upgrade (Resolve-Path $Wheel).Path
if ($LASTEXITCODE -ne 0) { throw "pip install of $Wheel failed" }
# The interpreter the service runs, and where the venv's packages are (its PYTHONPATH).
$basePython = (& $venvPython -c "import sys; print(sys._base_executable)" | Out-String).Trim()
$sitePackages = (& $venvPython -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" | Out-String).Trim()
if (-not (Test-Path $basePython)) { throw "Base interpreter not found: $basePython" }
# The service runs this interpreter as SYSTEM: a folder the visitor can write would hand them SYSTEM.
if ($basePython -like "$env:SystemDrive\Users\*") {
    throw "Python is installed for one user ($basePython): install it for all users, or pass -Python"
}

# --- 2. Configuration and the state folder ---------------------------------
$stateDir = Join-Path $DataDir "state"
$config = Join-Path $DataDir "agent.toml"
New-Item -ItemType Directory -Force -Path $stateDir | Out-Null
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $PSScriptRoot "agent.sample.toml") $config
    Write-Host "Edit $config (station id, wipe roots, visitor user) before the first session."
}
# By SID, so that localized group names ("Administrateurs", "Gebruikers") do not
# matter: SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544) full control, Users
# (S-1-5-32-545) read and run. The code the service runs and its configuration
# cannot be changed by the visitor; ProgramData's default lets Users create files.
foreach ($dir in @($InstallDir, $DataDir)) {
    & icacls.exe $dir /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-32-545:(OI)(CI)RX" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls on $dir failed" }
}
# The state folder: SYSTEM and Administrators only. The visitor cannot read the token.
& icacls.exe $stateDir /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls on $stateDir failed" }
$token = Join-Path $stateDir "token"
if (Test-Path $token) {
    & icacls.exe $token /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" | Out-Null
}
& icacls.exe $config /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" "*S-1-5-32-545:R" | Out-Null

# --- 3. The service ---------------------------------------------------------
$existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($existing) {
    Stop-Service -Name $ServiceName -Force -ErrorAction SilentlyContinue
}
$agentArgs = "-m agent.cli service --config `"$config`""
$svcKey = "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName"
if ($Nssm) {
    Write-Host "Registering $ServiceName with NSSM ($Nssm)"
    if (-not $existing) { & $Nssm install $ServiceName $basePython | Out-Null }
    & $Nssm set $ServiceName Application $basePython | Out-Null
    & $Nssm set $ServiceName AppParameters $agentArgs | Out-Null
    & $Nssm set $ServiceName AppEnvironmentExtra "PYTHONPATH=$sitePackages" | Out-Null
    & $Nssm set $ServiceName AppDirectory $DataDir | Out-Null
    & $Nssm set $ServiceName AppStopMethodSkip 6 | Out-Null  # Ctrl+C (the agent stops cleanly on it), then end the process
    & $Nssm set $ServiceName Start SERVICE_AUTO_START | Out-Null
    & $Nssm set $ServiceName ObjectName LocalSystem | Out-Null
} else {
    $bin = "`"$basePython`" $agentArgs"
    if ($existing) {
        & sc.exe config $ServiceName binPath= $bin start= auto obj= LocalSystem | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe config $ServiceName failed" }
    } else {
        New-Service -Name $ServiceName -BinaryPathName $bin -DisplayName "Espace station agent" `
            -Description "Espace: sessions, reset, printing and health of this public PC" `
            -StartupType Automatic | Out-Null
    }
    # The service's own environment (REG_MULTI_SZ "Environment"): the venv's packages.
    Set-ItemProperty -Path $svcKey -Name Environment -Type MultiString -Value @("PYTHONPATH=$sitePackages")
}
# Restart after a crash or a stop with an error: 5 s, 5 s, then every 60 s; the count resets daily.
& sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/60000 | Out-Null
if ($LASTEXITCODE -ne 0) { throw "sc.exe failure $ServiceName failed" }
& sc.exe failureflag $ServiceName 1 | Out-Null  # a stop with a non-zero exit code counts as a failure too

# --- 4. The session UI at the visitor's logon -------------------------------
# pythonw.exe: no console window on the visitor's desktop.
$uiArgs = "-c `"import sys; from agent.cli import main; sys.exit(main())`" session-ui --control \\.\pipe\espace-agent"
if ($StartWith -eq "Task") {
    $action = New-ScheduledTaskAction -Execute $venvPythonw -Argument $uiArgs -WorkingDirectory $InstallDir
    $trigger = New-ScheduledTaskTrigger -AtLogOn -User $VisitorUser
    $taskPrincipal = New-ScheduledTaskPrincipal -UserId $VisitorUser -LogonType Interactive -RunLevel Limited
    $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1)
    Register-ScheduledTask -TaskName "Espace session UI" -Action $action -Trigger $trigger `
        -Principal $taskPrincipal -Settings $settings -Force | Out-Null
    Write-Host "Scheduled task 'Espace session UI' starts at $VisitorUser's logon."
} else {
    Set-ItemProperty -Path "HKLM:\Software\Microsoft\Windows\CurrentVersion\Run" -Name "EspaceSession" `
        -Value "`"$venvPythonw`" $uiArgs"
    Write-Host "Run key EspaceSession starts the session UI at every user's logon."
}

# --- 5. Print accounting ------------------------------------------------------
# Events 805 (copies) and 307 (pages); 16 MB keeps weeks of jobs for the agent's bookmark.
& wevtutil.exe sl Microsoft-Windows-PrintService/Operational /e:true /ms:16777216
if ($LASTEXITCODE -ne 0) { throw "wevtutil could not enable the PrintService/Operational log" }

Start-Service -Name $ServiceName
Write-Host "Espace agent installed. Service: $ServiceName; config: $config; state: $stateDir"

# --- 6. The visitor's desktop lock-down ----------------------------------------
# One list, lockdown\windows-policies.json (the README's table and the tests read it too),
# written into the visitor account's own hive (its HKEY_CURRENT_USER): other accounts keep theirs.
$policyFile = Join-Path $PSScriptRoot "lockdown\windows-policies.json"
function Set-VisitorPolicies([string] $Root) {
    $list = Get-Content -Raw -Path $policyFile | ConvertFrom-Json
    foreach ($p in $list.policies) {
        $key = "Registry::$Root\$($p.key)"
        if (-not (Test-Path $key)) { New-Item -Path $key -Force | Out-Null }
        New-ItemProperty -Path $key -Name $p.name -PropertyType $p.type -Value $p.value -Force | Out-Null
    }
    return @($list.policies).Count
}
$visitorSid = (New-Object Security.Principal.NTAccount($VisitorUser)).Translate([Security.Principal.SecurityIdentifier]).Value
if (-not $NoLockdown) {
    if (Test-Path "Registry::HKEY_USERS\$visitorSid") {
        # The visitor is logged on: its hive is loaded already (the policies apply at its next logon).
        $count = Set-VisitorPolicies "HKEY_USERS\$visitorSid"
    } else {
        $profileKey = "HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\$visitorSid"
        $hive = ""
        if (Test-Path $profileKey) {
            $profileDir = [Environment]::ExpandEnvironmentVariables((Get-ItemProperty $profileKey).ProfileImagePath)
            $hive = Join-Path $profileDir "NTUSER.DAT"
        }
        if (-not $hive -or -not (Test-Path $hive)) {
            throw "$VisitorUser has never logged on (no NTUSER.DAT): log on once as $VisitorUser, log off, then run this installer again (or pass -NoLockdown)"
        }
        & reg.exe load "HKU\EspaceVisitor" $hive | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "reg load HKU\EspaceVisitor $hive failed (is $VisitorUser logged on?)" }
        try {
            $count = Set-VisitorPolicies "HKEY_USERS\EspaceVisitor"
        } finally {
            # PowerShell's own handles on the hive must go, or reg unload fails.
            [GC]::Collect()
            [GC]::WaitForPendingFinalizers()
            & reg.exe unload "HKU\EspaceVisitor" | Out-Null
            if ($LASTEXITCODE -ne 0) { Write-Warning "reg unload HKU\EspaceVisitor failed: unload it before $VisitorUser logs on" }
        }
    }
    Write-Host "$count lock-down policies set for $VisitorUser ($policyFile)."
}

# Optional: Shell Launcher (Windows Enterprise and Education): -ShellLauncher replaces explorer.exe
# for the visitor only. Microsoft's documented WMI calls (WESL_UserSetting); never run here.
if ($ShellLauncher) {
    $edition = (Get-ItemProperty "HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion").EditionID
    if ($edition -notmatch "^(Enterprise|Education|IoTEnterprise)") {
        throw "Shell Launcher needs Windows Enterprise or Education; this PC runs $edition"
    }
    Enable-WindowsOptionalFeature -Online -FeatureName Client-EmbeddedShellLauncher -All -NoRestart | Out-Null
    $shellClass = [wmiclass]"\\.\root\standardcimv2\embedded:WESL_UserSetting"
    $shellClass.SetDefaultShell("explorer.exe", 0) | Out-Null  # every other account keeps Explorer
    $shellClass.SetCustomShell($visitorSid, $ShellLauncher, ($null), ($null), 0) | Out-Null  # 0: restart it if it exits
    $shellClass.SetEnabled($true) | Out-Null
    Write-Host "Shell Launcher: $VisitorUser's shell is $ShellLauncher from its next logon (restart the PC if the feature was just enabled)."
}
