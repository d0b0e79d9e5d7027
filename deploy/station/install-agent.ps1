<#
.SYNOPSIS
  Install the Espace station agent on a Windows PC or tablet.

.DESCRIPTION
  1. Creates a virtual environment under -InstallDir (from -Python, or the
     "py" launcher, or python.exe on PATH) and installs the espace wheel.
  2. Copies the sample configuration to -DataDir if none is there yet, and
     restricts the state folder (station token, outbox) to SYSTEM and
     Administrators.
  3. Registers the Windows service "EspaceAgent" that runs
     "espace-agent service":
       - with NSSM (https://nssm.cc) when nssm.exe is on PATH or given by
         -Nssm: NSSM is the service, and runs the console program;
       - otherwise with New-Service, pointing at espace-agent.exe itself. That
         only works if "espace-agent service" answers the Service Control
         Manager (pywin32 service framework); if it does not, the service
         fails to start within 30 s with error 1053: install NSSM and re-run.
  4. Starts "espace-agent session-ui" at the visitor's logon: a scheduled
     task for -VisitorUser (default), or the HKLM Run key for every user
     (-StartWith RunKey).
  5. Enables the Microsoft-Windows-PrintService/Operational event log, where
     event 307 records each printed job (pages, printer, job id).

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
    [string] $ServiceName = "EspaceAgent"
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
$agentExe = Join-Path $venv "Scripts\espace-agent.exe"
& $venvPython -m pip install --upgrade (Resolve-Path $Wheel).Path
if ($LASTEXITCODE -ne 0) { throw "pip install of $Wheel failed" }

# --- 2. Configuration and the state folder ---------------------------------
$stateDir = Join-Path $DataDir "state"
$config = Join-Path $DataDir "agent.toml"
New-Item -ItemType Directory -Force -Path $stateDir | Out-Null
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $PSScriptRoot "agent.sample.toml") $config
    Write-Host "Edit $config (station id, wipe roots, visitor user) before the first session."
}
# SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544) only, by SID so that
# localized group names do not matter. The visitor cannot read the token.
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
if (-not $Nssm) {
    $found = Get-Command nssm.exe -ErrorAction SilentlyContinue
    if ($found) { $Nssm = $found.Source }
}
if ($Nssm) {
    Write-Host "Registering $ServiceName with NSSM ($Nssm)"
    if (-not $existing) { & $Nssm install $ServiceName $agentExe service --config $config | Out-Null }
    & $Nssm set $ServiceName Application $agentExe | Out-Null
    & $Nssm set $ServiceName AppParameters "service --config `"$config`"" | Out-Null
    & $Nssm set $ServiceName AppDirectory $DataDir | Out-Null
    & $Nssm set $ServiceName AppStdout (Join-Path $DataDir "agent.log") | Out-Null
    & $Nssm set $ServiceName AppStderr (Join-Path $DataDir "agent.log") | Out-Null
    & $Nssm set $ServiceName AppRotateFiles 1 | Out-Null
    & $Nssm set $ServiceName AppRotateBytes 10485760 | Out-Null
    & $Nssm set $ServiceName Start SERVICE_AUTO_START | Out-Null
    & $Nssm set $ServiceName ObjectName LocalSystem | Out-Null
} else {
    Write-Warning "NSSM not found: registering $agentExe directly with New-Service (needs SCM support in espace-agent)."
    $bin = "`"$agentExe`" service --config `"$config`""
    if ($existing) {
        & sc.exe config $ServiceName binPath= $bin start= auto | Out-Null
    } else {
        New-Service -Name $ServiceName -BinaryPathName $bin -DisplayName "Espace station agent" `
            -Description "Espace: sessions, reset, printing and health of this public PC" `
            -StartupType Automatic | Out-Null
    }
}
# Restart after a crash: 5 s, three times, counter reset daily.
& sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/5000 | Out-Null

# --- 4. The session UI at the visitor's logon -------------------------------
# pythonw.exe: no console window on the visitor's desktop.
$uiArgs = "-c `"import sys; from agent.cli import main; sys.exit(main())`" session-ui --config `"$config`""
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
& wevtutil.exe sl Microsoft-Windows-PrintService/Operational /e:true
if ($LASTEXITCODE -ne 0) { throw "wevtutil could not enable the PrintService/Operational log" }

Start-Service -Name $ServiceName
Write-Host "Espace agent installed. Service: $ServiceName; config: $config; state: $stateDir"
